"""`bench demo`: a local web page to color your own drawing with trained runs, backbones side by side.

`runs` finds the runs of a `bench run` folder, `lineart` turns built-in items and uploads into line art and an
editor's layers into strokes, `page` builds the gradio page, `serve` starts it with its files in a temporary folder.
"""
