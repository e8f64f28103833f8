import pytest

from keras_au import au


def test_dataset_sets_match_the_papers():
    assert au.dataset_aus("BP4D") == (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
    assert au.dataset_aus("disfa") == (1, 2, 4, 6, 9, 12, 25, 26)
    assert au.dataset_aus("EmotioNet-6") == (1, 2, 4, 6, 12, 17)
    assert len(au.union_aus("bp4d", "disfa")) == 15


def test_every_dataset_au_has_a_facs_name():
    for aus in au.DATASET_AUS.values():
        for a in aus:
            assert au.au_name(a)
    assert au.au_name(12) == "lip corner puller"
    assert au.au_label(1) == "AU01"


def test_unknown_lookups_raise():
    with pytest.raises(KeyError, match="unknown dataset"):
        au.dataset_aus("ck+")
    with pytest.raises(KeyError):
        au.au_name(99)
