"""The groupings the published objective returns on the published data.

From tag.md section 3.4 of google-research `tag/`; test data for network
selection.
"""

from tests.methods.tag.published_matrices import (
    CELEBA,
    CELEBA_CS,
    CELEBA_HOA_ERROR,
    CELEBA_TAG,
    TASKONOMY,
    TASKONOMY_CS,
    TASKONOMY_HOA,
    TASKONOMY_HOA_ORDER,
    TASKONOMY_TAG,
)

_SHORT = {
    "5oCS": "5_o_Clock_Shadow",
    "Black": "Black_Hair",
    "Blond": "Blond_Hair",
    "Brown": "Brown_Hair",
    "Goatee": "Goatee",
    "Mustache": "Mustache",
    "NoBeard": "No_Beard",
    "Rosy": "Rosy_Cheeks",
    "Hat": "Wearing_Hat",
}


def celeba_groups(*groups):
    return {frozenset(_SHORT[t] for t in g.split()) for g in groups}


def letters(*groups):
    return {frozenset(g) for g in groups}


ALL_BUT = " ".join(_SHORT)

# Groupings and objectives the published objective returns on the published
# data (tag.md section 3.4); `decimals` is the precision recorded there.
PUBLISHED = [
    # Taskonomy TAG and CS.
    (TASKONOMY_TAG, TASKONOMY, "tag", 2, letters("sdn", "kt"), 0.3217, 4),
    (TASKONOMY_TAG, TASKONOMY, "tag", 3, letters("sd", "dn", "kt"), 0.3487, 4),
    (TASKONOMY_TAG, TASKONOMY, "tag", 4, letters("sd", "dn", "kt"), 0.3487, 4),
    (TASKONOMY_CS, TASKONOMY, "cs", 2, letters("sdn", "kt"), None, 0),
    (TASKONOMY_CS, TASKONOMY, "cs", 3, letters("sd", "dn", "kt"), None, 0),
    # Taskonomy HOA (validation losses, minimised).
    (
        TASKONOMY_HOA,
        TASKONOMY_HOA_ORDER,
        "hoa",
        2,
        letters("sdnt", "nk"),
        0.10186,
        5,
    ),
    (
        TASKONOMY_HOA,
        TASKONOMY_HOA_ORDER,
        "hoa",
        3,
        letters("sdn", "nk", "tk"),
        0.09792,
        5,
    ),
    (
        TASKONOMY_HOA,
        TASKONOMY_HOA_ORDER,
        "hoa",
        4,
        letters("sn", "dn", "nk", "tk"),
        0.09648,
        5,
    ),
    # CelebA TAG, matrix as printed (rows = target).
    (
        CELEBA_TAG,
        CELEBA,
        "tag",
        2,
        celeba_groups("5oCS NoBeard", ALL_BUT.replace("5oCS", "")),
        None,
        0,
    ),
    (
        CELEBA_TAG,
        CELEBA,
        "tag",
        3,
        celeba_groups(
            "Black Brown",
            "5oCS NoBeard",
            "Black Blond Goatee Mustache NoBeard Rosy Hat",
        ),
        None,
        0,
    ),
    (
        CELEBA_TAG,
        CELEBA,
        "tag",
        4,
        celeba_groups(
            "Black Brown",
            "5oCS NoBeard",
            "Goatee Mustache NoBeard",
            "Black Blond Brown NoBeard Rosy Hat",
        ),
        None,
        0,
    ),
    # CelebA CS.
    (
        CELEBA_CS,
        CELEBA,
        "cs",
        2,
        celeba_groups("Goatee Mustache", ALL_BUT.replace("Mustache", "")),
        None,
        0,
    ),
    (
        CELEBA_CS,
        CELEBA,
        "cs",
        3,
        celeba_groups(
            "Goatee Mustache", "5oCS NoBeard", "Black Blond Brown Rosy Hat"
        ),
        None,
        0,
    ),
    (
        CELEBA_CS,
        CELEBA,
        "cs",
        4,
        celeba_groups(
            "Black Brown",
            "Goatee Mustache",
            "5oCS NoBeard",
            "Black Blond Brown NoBeard Rosy Hat",
        ),
        None,
        0,
    ),
    # CelebA HOA (validation error = 100 - accuracy, minimised).
    (
        CELEBA_HOA_ERROR,
        CELEBA,
        "hoa",
        2,
        celeba_groups(
            "Goatee NoBeard",
            ALL_BUT.replace("Goatee", "").replace("NoBeard", ""),
        ),
        6.520,
        3,
    ),
    (
        CELEBA_HOA_ERROR,
        CELEBA,
        "hoa",
        3,
        celeba_groups(
            "Black Brown",
            "Goatee NoBeard",
            "5oCS Blond Goatee Mustache NoBeard Rosy Hat",
        ),
        6.490,
        3,
    ),
    (
        CELEBA_HOA_ERROR,
        CELEBA,
        "hoa",
        4,
        celeba_groups(
            "Black Brown",
            "5oCS Goatee",
            "Goatee NoBeard",
            "Black Blond Goatee Mustache NoBeard Rosy Hat",
        ),
        6.472,
        3,
    ),
]
