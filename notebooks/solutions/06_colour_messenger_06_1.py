"""Solution to exercise 06.1 (a forgiving Y/N) in 06_colour_messenger.ipynb."""

def parse_answer(text):
    word = text.strip().lower()
    if word in ("y", "yes"):
        return "Y"
    if word in ("n", "no"):
        return "N"
    return None
