"""An offline HTML gallery of experiment outputs: ``out/index.html`` (``make demo``'s last step).

Each sub-folder of the output folder that holds images or a ``metrics.json`` gets a section
with its PNG / GIF / JPEG images (as relative links, so the folder can be moved or zipped) and
its metrics as a table (nested keys joined with dots, long lists shortened). The page has no
external resources; links are percent-encoded, so names with spaces, ``#`` or ``?`` work.

    python -m jax3d.vis.gallery out      # writes out/index.html
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path
from urllib.parse import quote

__all__ = ["write_gallery"]

IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg")
_MAX_LIST = 8

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
section { margin-bottom: 3em; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; text-align: center; }
figure img { max-width: 360px; max-height: 360px; border: 1px solid #ccc; }
figcaption { font-size: 0.8em; color: #555; }
table { border-collapse: collapse; font-size: 0.85em; }
td { border: 1px solid #ddd; padding: 2px 8px; vertical-align: top; }
td:first-child { font-family: monospace; }
"""


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        shown = ", ".join(_format(v) for v in value[:_MAX_LIST])
        more = f", ... ({len(value)} items)" if len(value) > _MAX_LIST else ""
        return f"[{shown}{more}]"
    return str(value)


def _flatten(metrics, prefix: str = "") -> list[tuple[str, str]]:
    """``{"a": {"b": 1}} -> [("a.b", "1")]``; lists of dicts are shortened like lists."""
    rows = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, name + ".")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            rows.append((name, f"{len(value)} entries"))
        else:
            rows.append((name, _format(value)))
    return rows


def _metrics_table(path: Path) -> str:
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return f"<p>metrics.json could not be read: {html.escape(str(err))}</p>"
    if not isinstance(metrics, dict):
        return f"<pre>{html.escape(json.dumps(metrics)[:2000])}</pre>"
    cells = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                    for k, v in _flatten(metrics))  # fmt: skip
    return f"<table>{cells}</table>"


def _href(rel: Path) -> str:
    """A relative link to ``rel``: percent-encoded, then escaped for an HTML attribute."""
    return html.escape(quote(rel.as_posix()))


def _section(root: Path, folder: Path) -> str | None:
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    metrics = folder / "metrics.json"
    if not images and not metrics.is_file():
        return None
    parts = [f"<section><h2>{html.escape(folder.name)}</h2>"]
    for image in images:
        rel = _href(image.relative_to(root))
        parts.append(f'<figure><a href="{rel}"><img src="{rel}" '
                     f'alt="{html.escape(image.name)}" loading="lazy"></a>'
                     f"<figcaption>{html.escape(image.relative_to(folder).as_posix())}"
                     f"</figcaption></figure>")  # fmt: skip
    if metrics.is_file():
        parts.append(f'<h3><a href="{_href(metrics.relative_to(root))}">'
                     f"metrics.json</a></h3>{_metrics_table(metrics)}")  # fmt: skip
    parts.append("</section>")
    return "\n".join(parts)


def write_gallery(root, title: str = "jax3d experiments") -> Path:
    """Write ``root/index.html`` for the experiment folders under ``root``.

    Args:
        root: the output folder (``make demo`` writes ``out/<experiment>/``).
        title: the page title.

    Returns:
        The path of ``index.html``. Every image link is relative to ``root`` and exists.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    found = [(f.name, s) for f in sorted(p for p in root.iterdir() if p.is_dir())
             if (s := _section(root, f)) is not None]  # fmt: skip
    toc = "".join(f'<li><a href="#{html.escape(n)}">{html.escape(n)}</a></li>' for n, _ in found)
    body = "\n".join(s.replace("<section>", f'<section id="{html.escape(n)}">', 1)
                     for n, s in found)  # fmt: skip
    page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<ul>{toc}</ul>\n{body}\n</body></html>\n")  # fmt: skip
    index = root / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else "out"
    print(f"gallery written to {write_gallery(folder)}")
