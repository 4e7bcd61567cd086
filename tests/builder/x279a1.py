"""pyx12 4.0.0 with the 005010X279A1 270 map from ../shared/x12-maps: an independent validator.

pyx12's installed map folder is copied to a temporary folder, the X279A1 map is put beside the
others and one line naming it is added to the copy's maps.xml. Tests that use it skip with the
reason when ../shared is absent.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyx12
import pyx12.params
import pyx12.x12n_document

MAP_FILE = "270.5010.X279.A1.xml"
MAP_LINE = f'<map vriic="005010X279A1" fic="HS" abbr="270">{MAP_FILE}</map>'


def prepare_map_dir(shared_map: Path, target: Path) -> Path:
    """A copy of pyx12's map folder that also knows the X279A1 270 map."""
    installed = Path(pyx12.__file__).parent / "map"
    map_dir = target / "map"
    shutil.copytree(installed, map_dir)
    shutil.copy(shared_map, map_dir / MAP_FILE)
    maps_xml = map_dir / "maps.xml"
    text = maps_xml.read_text(encoding="utf-8")
    anchor = '<version icvn="00501">'
    if anchor not in text:
        raise RuntimeError("pyx12 maps.xml has no 00501 version element")
    maps_xml.write_text(text.replace(anchor, f"{anchor}\n    {MAP_LINE}", 1), encoding="utf-8")
    return map_dir


@dataclass
class Validation:
    ok: bool
    errors: list[dict[str, Any]]
    transactions: int


def _collect(node: Any, out: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        for error in node.get("errors", []) or []:
            out.append(error)
        for value in node.values():
            if isinstance(value, list | dict):
                _collect(value, out)
    elif isinstance(node, list):
        for item in node:
            _collect(item, out)


def validate(x12: str, map_dir: Path, tmp_path: Path) -> Validation:
    """Run pyx12's validator on one interchange and return what it reported."""
    source = tmp_path / "check.x12"
    source.write_text(x12, encoding="ascii")
    report = io.StringIO()
    ack = io.StringIO()
    ok = pyx12.x12n_document.x12n_document(
        pyx12.params.params(), str(source), ack, None, None, report, map_path=str(map_dir)
    )
    parsed = json.loads(report.getvalue() or "{}")
    errors: list[dict[str, Any]] = []
    _collect(parsed, errors)
    transactions = sum(
        len(group.get("transactions", []))
        for interchange in parsed.get("interchanges", [])
        for group in interchange.get("groups", [])
    )
    return Validation(ok=bool(ok) and not errors, errors=errors, transactions=transactions)


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.builder.x279a1 FILE...`: validate 270 files with the X279A1 map."""
    import sys
    import tempfile

    files = sys.argv[1:] if argv is None else argv
    shared_map = Path(__file__).resolve().parents[3] / "shared" / "x12-maps" / MAP_FILE
    if not shared_map.exists():
        print(f"{shared_map} is absent", file=sys.stderr)
        return 2
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        map_dir = prepare_map_dir(shared_map, Path(folder))
        for name in files:
            report = validate(Path(name).read_text(encoding="ascii"), map_dir, Path(folder))
            print(
                f"{name}: {'valid' if report.ok else 'INVALID'} "
                f"({report.transactions} transaction(s), {len(report.errors)} error(s))"
            )
            for error in report.errors:
                print(f"  {error}")
            failed = failed or not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
