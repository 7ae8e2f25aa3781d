"""The training room: backbones and the shipped checkpoints (`pretrained/`), the Zarr feature cache and its
streaming, the query tagger, the bootstrap stand-in, the adapter and tail trainers and their edit-algebra
augmentation, and the training curves. It imports the foundation and the data room."""
