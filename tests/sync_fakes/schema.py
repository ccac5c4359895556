"""The platforms' published GraphQL schemas, loaded with graphql-core."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graphql import GraphQLSchema, build_schema, validate_schema

HERE = Path(__file__).parent
OPENCOLLECTIVE = HERE / "opencollective_schemaV2.graphql"
GITHUB = HERE / "github_schema.graphql"


@cache
def load(path: Path) -> GraphQLSchema:
    """The schema at ``path``, ready to validate and execute queries.

    Both published schemas break one rule graphql-core checks and their servers do not: an
    interface's field that is not deprecated is deprecated in some implementations
    (GitHub's ``Project.id``, Open Collective's ``Host.location``). Those errors, and only
    those, are accepted; GitHub's file also repeats a few fields, hence ``assume_valid_sdl``.
    """
    schema = build_schema(path.read_text(encoding="utf-8"), assume_valid_sdl=True)
    errors = validate_schema(schema)
    other = [e for e in errors if "is not deprecated, so implementation field" not in e.message]
    if other:
        raise TypeError("\n".join(e.message for e in other))
    schema._validation_errors = []  # the accepted quirk above: let validate() run
    return schema
