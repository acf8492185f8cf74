"""conll: CoNLL and CoNLL-U tagging files round-trip; bad lines name file, line and field."""

from __future__ import annotations

import pytest

import rnnkit.datasets
from rnnkit.data.formats import DataFileError

CONLLU = """# sent_id = 1
# text = The cat sleeps.
1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_
2\tcat\tcat\tNOUN\tNN\t_\t3\tnsubj\t_\t_
3\tsleeps\tsleep\tVERB\tVBZ\t_\t0\troot\t_\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# sent_id = 2
1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tdo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\trun\trun\tVERB\tVB\t_\t0\troot\t_\t_
3.1\tfast\tfast\tADV\tRB\t_\t_\t_\t_\t_

"""

CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def test_conllu_round_trip(tmp_path) -> None:
    path = tmp_path / "train.conllu"
    path.write_text(CONLLU * 3)
    ds = rnnkit.datasets.load(f"conll:{path}", test_fraction=0.0, valid_fraction=0.0)
    assert ds.info.shape == "synced" and ds.info.task == "tagging" and ds.info.input_kind == "tokens"
    assert ds.info.classes == ["AUX", "DET", "NOUN", "PART", "PUNCT", "VERB"]  # not ADV: empty node
    assert len(ds.train) == 6
    first, second = ds.train.examples[0], ds.train.examples[1]
    vocab, tags = ds.info.input_vocab, ds.info.classes
    assert vocab.decode(first.x.tolist()) == ["The", "cat", "sleeps", "."]
    assert [tags[i] for i in first.y.tolist()] == ["DET", "NOUN", "VERB", "PUNCT"]
    assert vocab.decode(second.x.tolist()) == ["do", "n't", "run"]  # range line and empty node skipped
    assert first.meta["line"] == 3 and second.meta["line"] == 10
    assert len(first.x) == len(first.y)


def test_conll2003_columns_and_test_file(tmp_path) -> None:
    train, test = tmp_path / "eng.train", tmp_path / "eng.testa"
    train.write_text(CONLL2003)
    test.write_text("Peter NNP B-NP B-PER\nParis NNP B-NP B-ORG\n")
    ds = rnnkit.datasets.load(f"conll:{train}", test=str(test), valid_fraction=0.0)
    assert ds.info.classes == ["B-MISC", "B-ORG", "B-PER", "I-PER", "O"]
    assert len(ds.train) == 2 and len(ds.test) == 1
    (ex,) = ds.test.examples
    assert ds.info.input_vocab.decode(ex.x.tolist()) == ["Peter", "<unk>"]  # Paris unseen -> <unk>
    assert [ds.info.classes[i] for i in ex.y.tolist()] == ["B-PER", "B-ORG"]
    pos = rnnkit.datasets.load(f"conll:{train}", tag_column=1, valid_fraction=0.0, test_fraction=0.0)
    assert pos.info.classes == ["JJ", "NNP", "VBZ"]


def test_unseen_test_tag(tmp_path) -> None:
    train, test = tmp_path / "a.txt", tmp_path / "b.txt"
    train.write_text(CONLL2003)
    test.write_text("Peter NNP B-NP B-PER\n\nRome NNP B-NP B-LOC\n")
    with pytest.raises(DataFileError, match="label 'B-LOC' was not seen in the training data") as err:
        rnnkit.datasets.load(f"conll:{train}", test=str(test))
    assert f"{test}, line 3, field 'tag'" in str(err.value)


def test_too_few_columns(tmp_path) -> None:
    path = tmp_path / "bad.conllu"
    path.write_text(CONLLU.replace("2\tcat\tcat\tNOUN\tNN\t_\t3\tnsubj\t_\t_", "2\tcat"))
    with pytest.raises(DataFileError, match="2 column") as err:
        rnnkit.datasets.load(f"conll:{path}")
    assert f"{path}, line 4, field 'column 3'" in str(err.value)


def test_empty_tag_and_empty_file(tmp_path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP \n")
    with pytest.raises(DataFileError, match="line 2, field 'column 3': empty tag"):
        rnnkit.datasets.load(f"conll:{path}", separator=" ", tag_column=3)
    path.write_text("# only a comment\n\n")
    with pytest.raises(DataFileError, match="holds no sentences"):
        rnnkit.datasets.load(f"conll:{path}", comment="#")  # a plain CoNLL file reads "#" as a token


@pytest.mark.parametrize("line", ["orphan", "\tNOUN", "b  "])
def test_a_token_line_without_its_tag_is_named(tmp_path, line: str) -> None:
    """One field read as both the token (column 0) and the tag (column -1) would make the word a tag."""
    path = tmp_path / "tags.txt"
    path.write_text(f"the DET\ncat NOUN\n{line}\n\na DET\n")
    with pytest.raises(DataFileError, match=r"tags.txt, line 3, field 'column -1': 1 column\(s\): the token"):
        rnnkit.datasets.load(f"conll:{path}")
