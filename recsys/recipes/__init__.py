"""The recipe registry: every recipe class by its Personalize name, `get_recipe(name)` and `load_recipe(path)`."""

from __future__ import annotations

from recsys.exceptions import ValidationError
from recsys.recipes.base import (
    PERSONALIZED_RANKING, POPULAR_ITEMS, RATING_PREDICTION, RELATED_ITEMS, USER_PERSONALIZATION,
    USER_SEGMENTATION, ParamInfo, Recipe, Recommendations,
)
from recsys.recipes.popularity import PopularityCount

REGISTRY: dict[str, type[Recipe]] = {}


def register(cls: type[Recipe]) -> type[Recipe]:
    """Add a recipe class to REGISTRY under its `name`."""
    REGISTRY[cls.name] = cls
    return cls


for _cls in (PopularityCount,):
    register(_cls)


def _register_optional() -> None:
    # Imported here so that one recipe's import error names itself instead of hiding the registry.
    import importlib
    for module, cls_name in (
        ("recsys.recipes.trending", "TrendingNow"),
        ("recsys.recipes.user_personalization", "UserPersonalization"),
        ("recsys.recipes.personalized_ranking", "PersonalizedRanking"),
        ("recsys.recipes.sims", "Sims"),
        ("recsys.recipes.similar_items", "SimilarItems"),
        ("recsys.recipes.semantic_similarity", "SemanticSimilarity"),
        ("recsys.recipes.affinity", "ItemAffinity"),
        ("recsys.recipes.affinity", "ItemAttributeAffinity"),
        ("recsys.recipes.rating", "RatingSVD"),
        ("recsys.recipes.rating", "RatingSVDpp"),
        ("recsys.recipes.rating", "RatingKNNBaseline"),
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue  # not written yet
            raise
        cls = getattr(mod, cls_name, None)
        if cls is not None:
            register(cls)
            globals()[cls_name] = cls


_register_optional()


def get_recipe(name: str) -> type[Recipe]:
    """The recipe class registered under `name` (e.g. "aws-user-personalization")."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValidationError(f"unknown recipe {name!r}; choose one of {sorted(REGISTRY)}") from None


def load_recipe(path) -> Recipe:
    """Load any recipe saved with `recipe.save(path)`."""
    return Recipe.load(path)


__all__ = ["REGISTRY", "get_recipe", "load_recipe", "register", "Recipe", "Recommendations", "ParamInfo",
           "USER_PERSONALIZATION", "POPULAR_ITEMS", "PERSONALIZED_RANKING", "RELATED_ITEMS", "USER_SEGMENTATION",
           "RATING_PREDICTION"] + [c.__name__ for c in REGISTRY.values()]
