"""The standard evaluation: validation columns from the carved split, test columns fit on all of train."""

from selfsup.data.splits import stratified_split
from selfsup.eval.features import extract_features, raw_pixel_features
from selfsup.eval.knn import knn_accuracy
from selfsup.eval.linear_probe import linear_probe
from selfsup.eval.protocol import EvalData, format_table, standard_evaluation


def test_validation_and_test_columns_use_disjoint_roles(digits, tiny_encoder):
    train_images, train_labels, test_images, test_labels = digits
    validation = stratified_split(train_labels, 0.1, seed=0)
    data = EvalData(train_images, train_labels, test_images, test_labels, "digits", validation)
    raw, random_init, ours = standard_evaluation(tiny_encoder, data, image_size=12, k=10)
    fit_idx, val_idx = validation

    pixels = raw_pixel_features(train_images)
    assert raw.knn_val == knn_accuracy(
        pixels[fit_idx], train_labels[fit_idx], pixels[val_idx], train_labels[val_idx], k=10
    )
    assert raw.knn == knn_accuracy(pixels, train_labels, raw_pixel_features(test_images), test_labels, k=10)

    feats = extract_features(tiny_encoder, train_images, image_size=12)
    test_feats = extract_features(tiny_encoder, test_images, image_size=12)
    assert ours.knn_val == knn_accuracy(
        feats[fit_idx], train_labels[fit_idx], feats[val_idx], train_labels[val_idx], k=10
    )
    probe = linear_probe(feats, train_labels, test_feats, test_labels, split=validation)
    assert ours.linear_val == probe.val_accuracy and ours.linear == probe.test_accuracy
    # The probe's weight decay was chosen on exactly the protocol's validation images.
    assert probe.sweep and probe.val_accuracy == probe.sweep[probe.best_weight_decay]

    table = format_table([raw, random_init, ours], "t", data.describe())
    assert "| kNN val (%) | linear val (%) | kNN test (%) | linear test (%) |" in table
    assert f"validation = {val_idx.numel()} images carved from the train split" in table
    record = data.splits_record()
    assert record["validation"]["images"] == val_idx.numel() and record["test"]["images"] == len(test_labels)
    assert len(record["validation"]["fingerprint"]) == 12
