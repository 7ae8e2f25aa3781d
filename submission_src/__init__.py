"""The deployable model, one module per concept; the pipeline trains and measures with these same modules.

In the judge's repo this folder is the package `rayan_cir/`, beside the two files the challenge names
(`root/generate_embeds.py` and `root/model.py`, copied to the repo's top). Its modules import each other only
relatively and import nothing of the pipeline, so it runs under whatever name the root files load it as.
"""
