"""The app room: the search CLI over a packaged repo, the Gradio app and its Hugging Face Space. It may import
every room before it; the Space carries only the modules its tests name."""
