"""Fakes of the platforms' APIs, served on 127.0.0.1, built from the platforms' own schemas and fixtures.

See README.md in this folder for where each schema and fixture comes from.
"""
