"""Signatures derived from dataset schemas."""

from __future__ import annotations

from stackml.data.schema import Column, ColumnStats, ImageStats, Schema
from stackml.registry.derive import enrich_signature, signature_from_dataset
from stackml.registry.signature import Signature, TensorSpec


def _label(values: dict[str, int]) -> Column:
    return Column("label", "category", False, ColumnStats(count=9, missing=0, frequencies=values))


def test_images_with_a_label_make_a_channels_first_classifier() -> None:
    images = ImageStats(
        count=10,
        shapes={"8x8": 9, "9x9": 1},
        dtype="uint8",
        channel_mean=(1.0,),
        channel_std=(2.0,),
    )
    schema = Schema(
        (Column("path", "string"), _label({"10": 1, "2": 5, "9": 3}), Column("split", "string")),
        10,
        images,
    )
    doc = {**schema.to_dict(), "label": "label", "path_column": "path", "key": "path"}
    sig = signature_from_dataset(doc)
    assert sig is not None
    assert sig.inputs == (TensorSpec("input", "float32", (-1, 1, 8, 8)),)
    assert sig.task == "classification" and sig.classes == ("2", "9", "10")
    assert sig.outputs[0].shape == (-1, 3) and sig.input_schema is None


def test_tables_give_record_features_without_label_key_or_split() -> None:
    schema = Schema(
        (
            Column("id", "int"),
            Column("alcohol", "float"),
            Column("ash", "float"),
            Column("color", "string"),
            Column("split", "string"),
            _label({"a": 3, "b": 6}),
        ),
        9,
    )
    sig = signature_from_dataset({**schema.to_dict(), "label": "label", "key": "id"})
    assert sig is not None and sig.feature_names == ("alcohol", "ash")
    assert sig.inputs[0].shape == (-1, 2) and sig.classes == ("a", "b")
    unlabeled = signature_from_dataset({**schema.to_dict(), "key": "id"})
    assert unlabeled is not None and unlabeled.task == "other" and unlabeled.classes == ()
    assert signature_from_dataset({}) is None
    assert signature_from_dataset({"columns": [], "label": "x"}) is None


def test_enrich_adds_classes_and_schema_only_where_they_fit() -> None:
    dataset = signature_from_dataset(
        {
            **Schema(
                (Column("a", "float"), Column("b", "float"), _label({"x": 1, "y": 1})), 2
            ).to_dict(),
            "label": "label",
        }
    )
    model = Signature(
        (TensorSpec("features", "float32", (-1, 2)),), (TensorSpec("logits", "float32", (-1, 2)),)
    )
    enriched = enrich_signature(model, dataset)
    assert enriched.classes == ("x", "y") and enriched.task == "classification"
    assert enriched.feature_names == ("a", "b")
    wide = Signature(
        (TensorSpec("features", "float32", (-1, 5)),), (TensorSpec("logits", "float32", (-1, 7)),)
    )
    assert enrich_signature(wide, dataset) == wide
    assert enrich_signature(model, None) is model
