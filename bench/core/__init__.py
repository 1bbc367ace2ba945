"""The leaf layer: what every package needs (user errors, atomic writes, typed config coercion, image decoding).

It imports nothing else of the project, so hints/, backbones/ and eval/ may use it without a cycle.
"""
