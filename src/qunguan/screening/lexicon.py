"""Multi-term matching for lexicons: Aho-Corasick (pyahocorasick), one pass over the text
for every term of every lexicon."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import ahocorasick


class Matcher:
    """Finds every occurrence of any of ``terms`` in a text: ``(start, end, term index)``."""

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms = [t for t in dict.fromkeys(terms) if t]
        self._automaton = ahocorasick.Automaton()
        for index, term in enumerate(self.terms):
            self._automaton.add_word(term, index)
        if self.terms:
            self._automaton.make_automaton()

    def find(self, text: str) -> Iterator[tuple[int, int, int]]:
        if not self.terms:
            return
        for end, index in self._automaton.iter(text):
            yield end - len(self.terms[index]) + 1, end + 1, int(index)
