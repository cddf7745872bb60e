"""Image infrastructure shared by every layer: intake (sniff, inspect, open as RGB, the failure
reasons for an unusable image), the content-addressed store and its integrity check.

It sits below the collector, the catalog CLI, the dataset, training and the app, and imports
none of them, so each can read a cover without reaching upward.
"""
