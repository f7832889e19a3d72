"""A verifier from an installed package: the field reads the same backwards (letters
only, any case)."""

from bare_tui.core.inputs.verifiers import Verifier


class Palindrome(Verifier):
    name = "palindrome"
    version = "0.1"
    description = "the field reads the same backwards"
    options = {"min_letters": "the fewest letters it must have (default 3)"}

    def problems(self, text, item):
        letters = [c.lower() for c in text if c.isalpha()]
        if len(letters) < int(self.settings.get("min_letters", 3)):
            return ["too short to tell"]
        return [] if letters == letters[::-1] else [f"{text[:40]!r} is not a palindrome"]
