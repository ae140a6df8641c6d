"""mkdocs hooks: the reference pages generated from the code, so they cannot drift from it.

``<!-- generated: cli -->`` becomes every command's ``--help`` (from ``jaxrl.cli``'s
parsers), ``<!-- generated: settings -->`` every registered learner's settings (the
tables ``jaxrl train NAME --help`` prints).
"""
from __future__ import annotations

import argparse
import os
import warnings

# distrax's tensorflow_probability reads a deprecated jax.core name on import; mkdocs
# would log it with a traceback on every build.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="tensorflow_probability")


def _cli_reference() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal's width
    from jaxrl import cli

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = ["## `jaxrl`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in commands.choices.items():
        out += [f"## `jaxrl {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else ""


def _settings_reference() -> str:
    from jaxrl import cli, registry

    out = []
    for entry in registry.entries():
        out += [f"## `{entry.name}`", "", entry.summary + ".", ""]
        if entry.defaults:
            implied = ", ".join(f"`{k}={v}`" for k, v in entry.defaults)
            out += [f"Settings the name implies: {implied}.", ""]
        for title, rows in cli.settings_tables(entry.name):
            if title.startswith("run "):
                continue  # the same for every learner: listed once, below
            out += [f"**{title}**", "", "| setting | default | what it sets |",
                    "| --- | --- | --- |"]
            out += [f"| `{name}` | `{_cell(default)}` | {_cell(doc)} |" if default else
                    f"| `{name}` | | {_cell(doc)} |" for name, default, doc in rows]
            out.append("")
    title, rows = next(t for t in cli.settings_tables(registry.names()[0])
                       if t[0].startswith("run "))
    out += ["## Every run", "", f"**{title}**", "", "| setting | default | what it sets |",
            "| --- | --- | --- |"]
    out += [f"| `{name}` | `{_cell(default)}` | {_cell(doc)} |" for name, default, doc in rows]
    return "\n".join(out) + "\n"


GENERATED = {"<!-- generated: cli -->": _cli_reference,
             "<!-- generated: settings -->": _settings_reference}


def on_page_markdown(markdown: str, page, config, files) -> str:
    for marker, generate in GENERATED.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown
