"""CIFAR-100 fine classes -> the sentiment a picture of that thing usually carries.

CIFAR-100 has no sentiment labels; this reviewed table turns it into weak supervision for
the image branch. Each class is mapped by what it means to most viewers, never by index:

- positive: cute or young animals people share for delight, flowers (gifts, beauty),
  holiday and scenic places;
- negative: what people commonly fear or find disgusting (phobias, pests, predators
  known for attacks) and instruments of war;
- neutral: everyday objects, furniture, vehicles, buildings, food ingredients, people
  (their expression, which CIFAR does not label, would decide), and animals whose image is
  ambivalent (admired and feared, e.g. big cats).

The table is a judgement, written down so it can be reviewed and changed in one place;
``tests/image/test_cifar100_sentiment.py`` checks that all 100 official names appear exactly once
with a reason.

>>> sentiment_of("snake")
<Sentiment.NEGATIVE: 0>
>>> CIFAR100_SENTIMENT["rose"].reason
'love, gifts, beauty'
"""

from __future__ import annotations

from typing import NamedTuple

from ..labels import Sentiment

NEG, NEU, POS = Sentiment.NEGATIVE, Sentiment.NEUTRAL, Sentiment.POSITIVE


class Mapping(NamedTuple):
    sentiment: Sentiment
    reason: str


# The official fine label names, in the official index order (meta["fine_label_names"]).
_TABLE: tuple[tuple[str, Sentiment, str], ...] = (
    ("apple", NEU, "everyday food"),
    ("aquarium_fish", POS, "colourful pets, calm and decorative"),
    ("baby", POS, "joy, tenderness, family news"),
    ("bear", NEU, "admired wildlife but dangerous: ambivalent"),
    ("beaver", NEU, "wildlife with little emotional charge"),
    ("bed", NEU, "household furniture"),
    ("bee", NEU, "useful pollinator but stings: ambivalent"),
    ("beetle", NEU, "insect; macro-photo subject as often as a pest"),
    ("bicycle", NEU, "everyday vehicle"),
    ("bottle", NEU, "everyday container"),
    ("bowl", NEU, "everyday container"),
    ("boy", NEU, "a person: the expression decides, not the class"),
    ("bridge", NEU, "infrastructure"),
    ("bus", NEU, "everyday vehicle"),
    ("butterfly", POS, "beauty, a common symbol of joy"),
    ("camel", NEU, "animal with little emotional charge"),
    ("can", NEU, "everyday container"),
    ("castle", POS, "fairy tales, holiday sightseeing"),
    ("caterpillar", NEU, "cute to some, creepy-crawly to others: ambivalent"),
    ("cattle", NEU, "farm animals"),
    ("chair", NEU, "household furniture"),
    ("chimpanzee", NEU, "wildlife, both endearing and unsettling: ambivalent"),
    ("clock", NEU, "everyday object"),
    ("cloud", NEU, "weather: grey sky or fair weather, ambiguous"),
    ("cockroach", NEG, "disgust, dirt, household pest"),
    ("couch", NEU, "household furniture"),
    ("crab", NEU, "seafood and beach animal"),
    ("crocodile", NEG, "predator known for attacks, fear"),
    ("cup", NEU, "everyday object"),
    ("dinosaur", NEU, "fossils and toys; fierce yet fascinating"),
    ("dolphin", POS, "friendly, playful, widely loved"),
    ("elephant", NEU, "large wildlife; admired, no clear valence"),
    ("flatfish", NEU, "fish as food"),
    ("forest", POS, "calm nature, walks"),
    ("fox", NEU, "wildlife, cute or cunning: ambivalent"),
    ("girl", NEU, "a person: the expression decides, not the class"),
    ("hamster", POS, "cute small pet"),
    ("house", NEU, "building"),
    ("kangaroo", NEU, "wildlife with little emotional charge"),
    ("keyboard", NEU, "everyday object"),
    ("lamp", NEU, "household object"),
    ("lawn_mower", NEU, "garden tool"),
    ("leopard", NEU, "majestic but dangerous predator: ambivalent"),
    ("lion", NEU, "majestic but dangerous predator: ambivalent"),
    ("lizard", NEU, "reptile, mild aversion for some: no clear valence"),
    ("lobster", NEU, "seafood"),
    ("man", NEU, "a person: the expression decides, not the class"),
    ("maple_tree", NEU, "tree"),
    ("motorcycle", NEU, "everyday vehicle"),
    ("mountain", POS, "scenic views, hiking, holidays"),
    ("mouse", NEG, "household pest, common phobia"),
    ("mushroom", NEU, "food or forest find"),
    ("oak_tree", NEU, "tree"),
    ("orange", NEU, "everyday food"),
    ("orchid", POS, "flower: beauty, gifts"),
    ("otter", POS, "cute, playful animal"),
    ("palm_tree", POS, "beaches, holidays"),
    ("pear", NEU, "everyday food"),
    ("pickup_truck", NEU, "everyday vehicle"),
    ("pine_tree", NEU, "tree"),
    ("plain", NEU, "open land, little emotional charge"),
    ("plate", NEU, "everyday object"),
    ("poppy", POS, "bright flower"),
    ("porcupine", NEU, "wildlife, spiky: no clear valence"),
    ("possum", NEU, "wildlife with little emotional charge"),
    ("rabbit", POS, "cute pet"),
    ("raccoon", NEU, "wildlife, cute or a bin-raiding pest: ambivalent"),
    ("ray", NEU, "sea animal with little emotional charge"),
    ("road", NEU, "infrastructure"),
    ("rocket", NEU, "space launches or missiles: ambivalent"),
    ("rose", POS, "love, gifts, beauty"),
    ("sea", POS, "beaches, holidays"),
    ("seal", POS, "cute, playful animal"),
    ("shark", NEG, "threat, fear of attacks"),
    ("shrew", NEU, "small wildlife with little emotional charge"),
    ("skunk", NEG, "stench, aversion"),
    ("skyscraper", NEU, "building"),
    ("snail", NEU, "garden animal, slow, no clear valence"),
    ("snake", NEG, "common phobia, threat"),
    ("spider", NEG, "common phobia"),
    ("squirrel", POS, "cute, playful animal"),
    ("streetcar", NEU, "everyday vehicle"),
    ("sunflower", POS, "bright flower, summer"),
    ("sweet_pepper", NEU, "everyday food"),
    ("table", NEU, "household furniture"),
    ("tank", NEG, "war, violence"),
    ("telephone", NEU, "everyday object"),
    ("television", NEU, "everyday object"),
    ("tiger", NEU, "majestic but dangerous predator: ambivalent"),
    ("tractor", NEU, "farm vehicle"),
    ("train", NEU, "everyday vehicle"),
    ("trout", NEU, "fish as food or catch"),
    ("tulip", POS, "flower: spring, gifts"),
    ("turtle", NEU, "wildlife, calm, no clear valence"),
    ("wardrobe", NEU, "household furniture"),
    ("whale", NEU, "majestic sea animal, no clear valence"),
    ("willow_tree", NEU, "tree"),
    ("wolf", NEU, "admired and feared predator: ambivalent"),
    ("woman", NEU, "a person: the expression decides, not the class"),
    ("worm", NEG, "disgust"),
)

FINE_LABEL_NAMES: tuple[str, ...] = tuple(name for name, _, _ in _TABLE)
CIFAR100_SENTIMENT: dict[str, Mapping] = {name: Mapping(s, reason) for name, s, reason in _TABLE}


def sentiment_of(fine_label_name: str) -> Sentiment:
    """The sentiment of a CIFAR-100 fine class given by its official name."""
    try:
        return CIFAR100_SENTIMENT[fine_label_name].sentiment
    except KeyError:
        raise ValueError(
            f"unknown CIFAR-100 fine class {fine_label_name!r}; expected one of the 100 official names "
            f"({', '.join(FINE_LABEL_NAMES[:3])}, ..., {FINE_LABEL_NAMES[-1]})"
        ) from None
