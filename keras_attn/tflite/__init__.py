"""The `.tflite` file format, read and written without TensorFlow: the
metadata MediaPipe needs (`metadata`) and the operator graph (`graph`)."""
