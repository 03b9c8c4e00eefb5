"""Typed records shared by the store, the services, the API, the TUI and the uplink (msgspec Structs).

They are the data of the appliance below and on the wire: what the store reads back, what the services
hand to the API and what the API sends is one type each, so a field cannot mean one thing in the store
and another on the screen. `requests` holds what a client may send; the other modules what the box
keeps and says.
"""
