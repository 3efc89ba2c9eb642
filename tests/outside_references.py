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
    # a section of, or a claim from, a specification the reader cannot see ("spec" alone is often a
    # model spec or an import spec, which is fine)
    (r"\bspe[c](?:'s)?\s*§|\bthe spe[c] says\b|\bas the spe[c]\b", "a specification the reader cannot see"),
]
ISSUE = re.compile(r"\b(?:[Ii]ssue|PR)s?\s*#?\d+")
# What makes an issue number public: another repository's name right before it, or its URL on the line.
REPOSITORY_BEFORE = re.compile(r"[\w.-]+/[\w.-]+(?:'s)?\s*$")
ISSUE_URL = re.compile(r"github\.com/[\w.-]+/[\w.-]+/(?:issues|pull)/\d+")


def outside_references(text: str) -> List[Tuple[int, str, str]]:
    """(line number, what matched, why it is not allowed) for every offending spot in ``text``."""
    found = []
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        nearby = line + " " + (lines[number] if number < len(lines) else "")  # a URL may wrap to the next line
        for pattern, why in OUTSIDE_PATTERNS:
            found += [(number, match.group(0), why) for match in re.finditer(pattern, line)]
        found += [
            (number, match.group(0), "an issue number without the repository it belongs to")
            for match in ISSUE.finditer(line)
            if not REPOSITORY_BEFORE.search(line[:match.start()]) and not ISSUE_URL.search(nearby)
        ]
    return found
