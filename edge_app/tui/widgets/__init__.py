"""Widgets of the cab screen: vital tiles, the NEWS2 panel, the encounter and key lines."""
