import pytest

from rnnkit.cells import CELLS, GRUCell, LSTMCell, MinGRUCell, MinLSTMCell, SimpleRNNCell, make_cell


def test_every_name_builds_its_cell():
    expected = {"rnn": SimpleRNNCell, "lstm": LSTMCell, "gru": GRUCell, "mingru": MinGRUCell,
                "minlstm": MinLSTMCell}
    assert expected == CELLS
    for name, cls in expected.items():
        cell = make_cell(name, 3, 4)
        assert type(cell) is cls and (cell.input_size, cell.hidden_size) == (3, 4)


def test_options_reach_the_cell():
    assert make_cell("lstm", 3, 4, layer_norm=True).layer_norm
    assert make_cell("rnn", 3, 4, nonlinearity="relu").nonlinearity == "relu"


def test_unknown_name_and_option():
    with pytest.raises(ValueError, match=r"unknown cell 'transformer': use one of \['gru', 'lstm'"):
        make_cell("transformer", 3, 4)
    with pytest.raises(ValueError, match="does not take these options"):
        make_cell("mingru", 3, 4, layer_norm=True)
