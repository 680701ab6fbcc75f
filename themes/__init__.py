"""Themes shipped with cockpit: one TOML file per theme (Textual `Theme` fields plus a
[variables] table). This folder ships inside the wheel as `cockpit.themes`."""
