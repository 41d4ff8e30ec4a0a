"""Every text the dashboard shows, in one place: English by default, or the lesson's French."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LABELS", "Labels", "labels_for"]


@dataclass(frozen=True, slots=True)
class Labels:
    title: str
    tours_title: str
    seats: str
    updated: str
    waiting_tours: str
    random_title: str
    current_number: str
    received_at: str
    history: str
    waiting_number: str
    histogram_title: str
    histogram_count: str
    histogram_expected: str
    value: str
    seat_chart_title: str
    time: str
    connecting: str
    connected: str
    reconnecting: str  # formatted with {seconds}
    disconnected: str
    rate: str
    age: str
    gaps: str
    resyncs: str


LABELS: dict[str, Labels] = {
    "en": Labels(
        title="Live tour dashboard",
        tours_title="Tour availability",
        seats="seats",
        updated="Updated",
        waiting_tours="Waiting for tour data…",
        random_title="Real-time random number",
        current_number="Current number",
        received_at="Received at",
        history="History",
        waiting_number="Waiting for the first number…",
        histogram_title="Distribution of the numbers received",
        histogram_count="count",
        histogram_expected="uniform expectation",
        value="value",
        seat_chart_title="Seats over time",
        time="time",
        connecting="connecting",
        connected="connected",
        reconnecting="reconnecting (next try in {seconds} s)",
        disconnected="disconnected",
        rate="msg/s",
        age="message age",
        gaps="gaps",
        resyncs="resyncs",
    ),
    "fr": Labels(
        title="Tableau de bord des tours en direct",
        tours_title="Tableau de Bord des Tours",
        seats="places",
        updated="Mis à jour :",
        waiting_tours="En attente des données des tours...",
        random_title="Nombre Aléatoire en Temps Réel",
        current_number="Nombre actuel",
        received_at="Reçu à :",
        history="Historique",
        waiting_number="En attente du premier nombre...",
        histogram_title="Distribution des nombres reçus",
        histogram_count="nombre",
        histogram_expected="attendu si uniforme",
        value="valeur",
        seat_chart_title="Places au fil du temps",
        time="heure",
        connecting="connexion…",
        connected="Connecté",
        reconnecting="reconnexion (prochain essai dans {seconds} s)",
        disconnected="Déconnecté",
        rate="msg/s",
        age="âge du message",
        gaps="trous",
        resyncs="resynchronisations",
    ),
}


def labels_for(language: str) -> Labels:
    """The labels of ``language`` (``en`` or ``fr``); a clear error for anything else."""
    try:
        return LABELS[language.lower()]
    except KeyError:
        known = ", ".join(LABELS)
        raise ValueError(f"unknown language {language!r}; choose one of: {known}") from None
