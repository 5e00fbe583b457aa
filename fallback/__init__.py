"""SMS fallback: segmentation, composition, the route interface and its kinds (SMPP), carrier
routing, short links and the SMSC simulator.

Import what you need from its module (e.g. `fallback.route`): the package
itself loads nothing, so code that needs only an interface does not pull in the rest.
"""
