"""Series classification: the classes (`T1`, `DWI`, `localizer`, ...) of one series from the
headers of its instances, by a rule file in the original MagickBox's `classifyRules.json` form.

Shared layer, no state: imports pydicom, `errors` and nothing of the stages. Enters: a rule file
(the `classify_rules` setting, or the shipped `default_rules.json`) and the headers of a series
(pydicom Datasets read with `stop_before_pixels=True`, which hold every tag the rules can read,
or mappings keyed by keyword / "GGGGEEEE"). Leaves: a list of class names.

    rules = load_rules(settings.classify_rules)      # RuleError at load, naming the place
    rules.classify(headers_of_one_series)            # -> ["SIEMENS", "MR", "axial", "T1"]
    rules.classify_study(headers)                    # -> {SeriesInstanceUID: [...]}
    rules.tags                                       # the tags to read: dcmread(..., specific_tags=)

The rule a series is classified by (docs/rules.md): a type's tests read instances; its
`{"rule": x}` / `{"notrule": x}` references and `ClassifyType` read the series' classes. A type
holds for the series when all its references hold and its tests all pass on at least one
instance of the series, or, with `check: "SeriesLevel"`, on every instance. References name an
id or a class (several types of one class are alternatives); ClassifyType is the classes of the
types listed before it. Nothing depends on the order instances arrive in.
"""

from __future__ import annotations

from magickbox.classify.model import OPERATORS, RuleError
from magickbox.classify.ruleset import RuleSet, load_rules, parse_rules
from magickbox.classify.values import PSEUDO_TAGS, Header

__all__ = ["OPERATORS", "PSEUDO_TAGS", "Header", "RuleError", "RuleSet", "load_rules", "parse_rules"]
