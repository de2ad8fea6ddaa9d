"""nbgrader's check of the grading metadata, with its schema compiled once per process.

Stock ``CheckCellMetadata`` runs twice per notebook (sanitizing, then grading) and validates every
nbgrader cell with ``jsonschema.validate``, which checks nbgrader's own fixed schema against
JSON Schema's metaschema again on every call: about nine tenths of the check's cost, some 12 ms
of CPU per notebook here. The verdict is the same: the schema is checked once, then every cell is
validated against it exactly as ``jsonschema.validate`` does; anything else (a schema version
other than nbgrader's, the grade id and points rules, duplicate ids) is nbgrader's own code.
"""

from __future__ import annotations

import traceback

import jsonschema
from jsonschema.exceptions import best_match
from nbformat import NotebookNode
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import CheckCellMetadata

_compiled: dict[int, jsonschema.protocols.Validator] = {}


class _SchemaCompiledOnce(BaseMetadataValidator):
    def validate_cell(self, cell: NotebookNode) -> None:
        meta = cell.metadata.get("nbgrader")
        if meta is None or meta.get("schema_version", 0) != self.schema_version:
            return super().validate_cell(cell)  # nbgrader's own: nothing to check, or the version error
        if self.schema_version not in _compiled:
            kind = jsonschema.validators.validator_for(self.schema)
            kind.check_schema(self.schema)
            _compiled[self.schema_version] = kind(self.schema)
        error = best_match(_compiled[self.schema_version].iter_errors(meta))
        if error is not None:
            raise error


class _Validator(MetadataValidator, _SchemaCompiledOnce):
    """nbgrader's current validator; its schema step (the base class's) is ``_SchemaCompiledOnce``'s."""


class CheckCellMetadataOnce(CheckCellMetadata):
    """``CheckCellMetadata`` with the schema compiled once: the same verdicts, the same messages."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        try:
            _Validator().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            msg = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(msg)
            raise ValidationError(msg) from None
        return nb, resources
