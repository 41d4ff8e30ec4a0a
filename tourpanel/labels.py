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
    stale: str  # formatted with {seconds}
    reconnecting: str  # formatted with {seconds}
    disconnected: str
    rate: str
    age: str
    gaps: str
    resyncs: str
    discarded: str
    missed: str
    # The status table's column explanations, shown as tooltips.
    rate_help: str
    age_help: str
    gaps_help: str
    resyncs_help: str
    discarded_help: str
    missed_help: str


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
        stale="stale — no message for {seconds} s",
        reconnecting="reconnecting (next try in {seconds} s)",
        disconnected="disconnected",
        rate="msg/s",
        age="age",
        gaps="gaps",
        resyncs="resyncs",
        discarded="discarded",
        missed="missed",
        rate_help="messages received per second, over the last few seconds",
        age_help="seconds since the server sent the latest message",
        gaps_help="jumps in the sequence numbers: messages lost on the way",
        resyncs_help="times the feed's history restarted or could not be replayed: shown afresh",
        discarded_help="messages received but not kept: not JSON objects, duplicates, too large",
        missed_help="messages that left the buffer before this page could show them",
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
        stale="inactif — aucun message depuis {seconds} s",
        reconnecting="reconnexion (prochain essai dans {seconds} s)",
        disconnected="Déconnecté",
        rate="msg/s",
        age="âge",
        gaps="trous",
        resyncs="resynchros",
        discarded="écartés",
        missed="manqués",
        rate_help="messages reçus par seconde, sur les dernières secondes",
        age_help="secondes depuis l'envoi du dernier message par le serveur",
        gaps_help="sauts dans les numéros de séquence : messages perdus en route",
        resyncs_help="fois où l'historique du flux a recommencé ou n'a pu être rejoué",
        discarded_help="messages reçus mais écartés : pas des objets JSON, doublons, trop grands",
        missed_help="messages sortis du tampon avant que la page ne les affiche : flux trop rapide",
    ),
}


def labels_for(language: str) -> Labels:
    """The labels of ``language`` (``en`` or ``fr``); a clear error for anything else."""
    try:
        return LABELS[language.lower()]
    except KeyError:
        known = ", ".join(LABELS)
        raise ValueError(f"unknown language {language!r}; choose one of: {known}") from None
