"""The reviewed CIFAR-100 -> sentiment table covers the 100 official classes exactly once."""

from __future__ import annotations

import pytest

from sentiment_fusion.image import cifar100_sentiment as table
from sentiment_fusion.labels import Sentiment

# The official meta["fine_label_names"], in index order, typed out independently of the table.
OFFICIAL = """
apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly
camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup
dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower
leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid
otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray
road rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar
sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip turtle
wardrobe whale willow_tree wolf woman worm
""".split()


def test_all_100_classes_exactly_once_with_a_reason():
    assert len(OFFICIAL) == 100
    names = [name for name, _, _ in table._TABLE]
    assert len(names) == len(set(names)) == 100  # no duplicates
    assert names == OFFICIAL  # every class, in the official index order
    for name, sentiment, reason in table._TABLE:
        assert isinstance(sentiment, Sentiment), name
        assert isinstance(reason, str) and len(reason.strip()) >= 3, name
    assert tuple(OFFICIAL) == table.FINE_LABEL_NAMES


def test_all_three_sentiments_used_and_spot_checks():
    used = {m.sentiment for m in table.CIFAR100_SENTIMENT.values()}
    assert used == set(Sentiment)
    assert table.sentiment_of("snake") is Sentiment.NEGATIVE
    assert table.sentiment_of("spider") is Sentiment.NEGATIVE
    assert table.sentiment_of("baby") is Sentiment.POSITIVE
    assert table.sentiment_of("rose") is Sentiment.POSITIVE
    assert table.sentiment_of("chair") is Sentiment.NEUTRAL


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown CIFAR-100 fine class 'unicorn'.*apple"):
        table.sentiment_of("unicorn")
