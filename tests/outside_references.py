"""What the project must not say: references to files outside the repository, or to issue numbers of
its own tracker. Another project's issue, named with its repository (``openai/CLIP issue #516``,
``KaiyangZhou/Dassl.pytorch#56``, a github.com URL), is a public source and is allowed."""
import re
from typing import List, Tuple

# Character classes keep these patterns from matching the text of this file.
OUTSIDE_PATTERNS = [
    (r"(?:\.\./|/work/)share[d]\b", "a folder beside the repository"),
    (r"\bspec[s]/[\w-]+\.md\b", "a specification file that is not in the repository"),
    (r"\b\w+_fact[s]\.md\b", "a notes file that is not in the repository"),
    (r"\bDESIG[N]\.md\b|\bHELPERS_\w+\.md\b", "a notes file that is not in the repository"),
    (r"\bgolden READM[E]\b", "a README that is not in the repository (tests/golden/README.md is)"),
    (r"\b[Tt]he spe[c]\b|\bspe[c]'s\b", "a specification the reader cannot see"),
]
ISSUE = re.compile(r"\b(?:[Ii]ssue|PR)s?\s*#?\d+")
# What may stand right before an issue number: another repository's name, or a github URL path.
REPOSITORY_BEFORE = re.compile(r"[\w.-]+/[\w.-]+(?:'s)?\s*$")


def outside_references(text: str) -> List[Tuple[int, str, str]]:
    """(line number, what matched, why it is not allowed) for every offending spot in ``text``."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, why in OUTSIDE_PATTERNS:
            found += [(number, match.group(0), why) for match in re.finditer(pattern, line)]
        found += [
            (number, match.group(0), "an issue number without the repository it belongs to")
            for match in ISSUE.finditer(line) if not REPOSITORY_BEFORE.search(line[:match.start()])
        ]
    return found
