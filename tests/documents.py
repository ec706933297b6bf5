"""A handful of realistic personal notes, and queries that paraphrase them (no shared keywords)."""

from __future__ import annotations

from pathlib import Path

NOTES = {
    "tax_receipt_2023.txt": (
        "Smile Dental Clinic, 14 Harbour Street. Invoice 2023-118. Patient: J. Meyer. "
        "Root canal treatment, second visit: 180.00. X-ray: 45.00. Total paid by card: 225.00 "
        "EUR, VAT exempt. Keep this receipt for your annual tax return (medical expenses)."
    ),
    "pancakes.md": (
        "# Sunday pancakes\n\nMix 200 g flour, 2 eggs, 300 ml milk and a pinch of salt. Let the "
        "batter rest ten minutes. Fry thin layers in butter, flip when bubbles appear. Serve with "
        "maple syrup or lemon and sugar."
    ),
    "q3_meeting.md": (
        "Minutes, 12 September. Attendees: Ana, Raj, Lee. Finance presented the Q3 numbers: "
        "marketing overspent by 18%. Decision: freeze new hires until January and cut the "
        "conference travel allowance. Raj to prepare a revised forecast for the board."
    ),
    "japan_itinerary.md": (
        "Day 1 land at Narita, train to Shinjuku hotel. Day 2 Asakusa temple and Ueno park. Day 3 "
        "shinkansen to Kyoto, Fushimi Inari at sunrise. Day 5 day trip to Nara to see the deer. "
        "Rail pass activated at the airport."
    ),
    "bike_repair.txt": (
        "Flat tyre again. Remove the wheel, lever the tyre off, pull out the inner tube. "
        "Inflate it and listen for the hiss, or dunk it in water to find bubbles. "
        "Roughen the area, apply glue, wait a minute, press the patch firmly."
    ),
    "garden_plan.txt": (
        "Balcony garden: tomatoes in the big pots, basil and parsley in the window box. Water "
        "every evening in July, feed with tomato fertiliser weekly once the first flowers set. "
        "Pinch out side shoots."
    ),
    "backup.sh": (
        "#!/bin/sh\n# nightly: mirror the home folder to the external drive\n"
        'rsync -a --delete --exclude .cache "$HOME/" /media/usb-backup/home/\n'
        'echo "backup finished $(date)" >> /var/log/home-backup.log\n'
    ),
    "sea_poem.txt": (
        "Grey water folds upon the shingle, the gulls complain above the swell; the tide draws "
        "back its salty fingers and leaves the shore a broken shell."
    ),
}

# query -> the note a person would expect first
QUERIES = {
    "money I spent at the dentist": "tax_receipt_2023.txt",
    "how to make breakfast crepes": "pancakes.md",
    "company spending discussion and hiring freeze": "q3_meeting.md",
    "travel plans for Asia": "japan_itinerary.md",
    "fixing a puncture on my bicycle": "bike_repair.txt",
    "growing vegetables at home": "garden_plan.txt",
    "copy my files to another disk every night": "backup.sh",
    "verses about the ocean": "sea_poem.txt",
}


def write_notes(folder: Path) -> list[Path]:
    """Write the notes into `folder` and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in NOTES.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
