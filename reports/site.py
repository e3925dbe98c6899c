"""Build the static report site: index, one page per model, CSS and the offline plotly.js.

``build_site(db, out)`` reads the store once (``reports.data.load``), renders the Jinja2
templates shipped in ``reports/templates`` and copies ``reports/static`` plus plotly's own
``plotly.min.js`` into ``out/static``. Pages reference their assets relatively, so the site
opens from ``file://`` with no network.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import jinja2

from reports import data as report_data
from reports import pages
from reports.figures import pattern_colour
from reports.fmt import FILTERS
from reports.missing import find_missing

_HERE = Path(__file__).parent
PLOTLY_JS = "plotly.min.js"


@dataclass(frozen=True)
class Site:
    """What ``build_site`` wrote."""

    index: Path
    model_pages: dict[str, Path]
    measurement_rows: int
    checkpoint_rows: int


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals["model_href"] = pages.model_href
    env.globals["pattern_colour"] = pattern_colour
    return env


def _write_assets(out: Path) -> None:
    """CSS from the package, plotly.js from the installed plotly (never a CDN)."""
    from plotly.offline import get_plotlyjs

    static = out / "static"
    static.mkdir(parents=True, exist_ok=True)
    for asset in (_HERE / "static").iterdir():
        if asset.is_file():
            shutil.copyfile(asset, static / asset.name)
    script = get_plotlyjs()
    target = static / PLOTLY_JS
    if not target.exists() or target.stat().st_size != len(script.encode()):
        target.write_text(script, encoding="utf-8")


def open_store(db: str | Path):  # -> results.Store
    """Open an existing results database; a missing file is bad input, never created."""
    import results

    path = Path(db)
    if not path.is_file():
        raise ValueError(
            f"no results database at {path}: pass --db an existing file, or create one with "
            f"`sparsebench bench --preset quick --db {path}`"
        )
    return results.Store(path)


def build_site(db: str | Path, out: str | Path) -> Site:
    """Render the whole site for the database at ``db`` into the folder ``out``."""
    store = open_store(db)
    data = report_data.load(store)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_assets(out)
    env = _environment()
    notices = find_missing(data, str(db))
    common = {"generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "db_name": Path(db).name, "db_path": str(db), "all_models": data.models}
    index = out / "index.html"
    index.write_text(env.get_template("index.html").render(
        **common, **pages.index_context(data, notices)), encoding="utf-8")
    model_template = env.get_template("model.html")
    written = {}
    for name in data.models:
        path = out / pages.model_href(name)
        path.write_text(model_template.render(
            **common, **pages.model_context(data, name, notices)), encoding="utf-8")
        written[name] = path
    return Site(index, written, data.measurement_rows, data.checkpoint_rows)
