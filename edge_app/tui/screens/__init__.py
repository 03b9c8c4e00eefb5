"""Screens and dialogs over the vitals screen: entry forms, prompts, handover, picking an encounter."""
