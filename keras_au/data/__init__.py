"""TFRecord schema and tf.data input pipelines."""
