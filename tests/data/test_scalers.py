"""Scalers: golden statistics, round trips on numpy and torch, zero variance, saving, and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.data.scalers import MinMaxScaler, Scaler, StandardScaler, scaler_from_state_dict


@pytest.fixture
def train() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(loc=[5.0, -2.0, 100.0], scale=[1.0, 3.0, 20.0], size=(200, 3))


def test_standard_learns_mean_and_population_std(train: np.ndarray) -> None:
    s = StandardScaler().fit(train)
    z = s.transform(train)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(s.offset_, train.mean(axis=0))
    np.testing.assert_allclose(s.scale_, train.std(axis=0))


def test_minmax_maps_training_range_onto_feature_range(train: np.ndarray) -> None:
    s = MinMaxScaler(feature_range=(-1.0, 1.0)).fit(train)
    z = s.transform(train)
    np.testing.assert_allclose(z.min(axis=0), -1.0, atol=1e-12)
    np.testing.assert_allclose(z.max(axis=0), 1.0, atol=1e-12)
    # values beyond the training range are not clipped
    assert s.transform(train.max(axis=0, keepdims=True) + 10.0).min() > 1.0


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_tensor_and_numpy_agree_and_round_trip(cls: type[Scaler], train: np.ndarray) -> None:
    s = cls().fit(torch.tensor(train))
    batch = torch.tensor(train[:24].reshape(2, 12, 3), dtype=torch.float32)  # (B, T, F)
    z = s.transform(batch)
    assert z.dtype == torch.float32 and z.shape == batch.shape
    np.testing.assert_allclose(z.numpy(), s.transform(train[:24].reshape(2, 12, 3)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(s.inverse_transform(z), batch, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(s.inverse_transform(s.transform(train)), train, rtol=1e-12)


def test_feature_subset_scales_target_columns_only(train: np.ndarray) -> None:
    s = StandardScaler().fit(train)
    y = train[:, [2]]
    np.testing.assert_allclose(s.transform(y, features=[2]), s.transform(train)[:, [2]])
    np.testing.assert_allclose(s.inverse_transform(s.transform(y, features=[2]), features=[2]), y)


def test_fit_on_variable_length_sequences_equals_fit_on_their_concatenation(train: np.ndarray) -> None:
    seqs = [train[:7], train[7:29], train[29:]]
    a = StandardScaler().fit([torch.tensor(x) for x in seqs])
    b = StandardScaler().fit(train)
    np.testing.assert_allclose(a.offset_, b.offset_)
    np.testing.assert_allclose(a.scale_, b.scale_)


def test_one_feature_scaler_takes_a_plain_series() -> None:
    s = StandardScaler().fit(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(s.transform(np.array([2.0, 4.0])), [0.0, 2.0 / np.std([1.0, 2.0, 3.0])])


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_zero_variance_feature_maps_to_a_constant_without_nan(cls: type[Scaler]) -> None:
    data = np.column_stack([np.arange(10.0), np.full(10, 7.0)])
    s = cls().fit(data)
    assert s.constant_features == [1]
    z = s.transform(data)
    assert np.isfinite(z).all()
    assert np.ptp(z[:, 1]) == 0.0
    np.testing.assert_allclose(s.inverse_transform(z), data)


def test_fit_on_train_only_ignores_test_values(train: np.ndarray) -> None:
    test = train + 1000.0  # a wildly shifted test set must not move the fitted statistics
    s = StandardScaler().fit(train)
    before = s.state_dict()
    s.transform(test)
    assert s.state_dict() == before
    assert abs(float(s.transform(test).mean())) > 10


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_transform_before_fit_is_refused(cls: type[Scaler]) -> None:
    with pytest.raises(RuntimeError, match="not fitted: call fit"):
        cls().transform(np.zeros((2, 1)))
    with pytest.raises(RuntimeError, match="not fitted"):
        cls().state_dict()


def test_nan_in_training_data_names_row_and_feature() -> None:
    data = np.zeros((5, 2))
    data[3, 1] = np.nan
    with pytest.raises(ValueError, match="row 3, feature 1"):
        StandardScaler().fit(data)


def test_wrong_number_of_features_is_a_clear_error(train: np.ndarray) -> None:
    s = StandardScaler().fit(train)
    with pytest.raises(ValueError, match="fitted on 3 feature"):
        s.transform(np.zeros((4, 2)))


@pytest.mark.parametrize("scaler", [StandardScaler(), MinMaxScaler((2.0, 5.0))])
def test_state_dict_round_trips_through_json(scaler: Scaler, train: np.ndarray) -> None:
    scaler.fit(train)
    state = json.loads(json.dumps(scaler.state_dict()))
    back = scaler_from_state_dict(state)
    assert type(back) is type(scaler)
    np.testing.assert_allclose(back.transform(train), scaler.transform(train))
    assert type(scaler).from_state_dict(state).num_features == 3


def test_state_dict_errors() -> None:
    with pytest.raises(ValueError, match="unknown scaler kind"):
        scaler_from_state_dict({"kind": "robust", "offset": [0.0], "scale": [1.0]})
    with pytest.raises(ValueError, match="not a MinMaxScaler"):
        MinMaxScaler.from_state_dict({"kind": "standard", "offset": [0.0], "scale": [1.0]})
    with pytest.raises(ValueError, match="no 'scale'"):
        scaler_from_state_dict({"kind": "standard", "offset": [0.0]})


def test_bad_feature_range() -> None:
    with pytest.raises(ValueError, match="low < high"):
        MinMaxScaler((1.0, 1.0))
