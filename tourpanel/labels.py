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
    # Turned away by the feed; each formatted with {seconds} until the next try.
    refused: str  # and {code}: a refusal without a reason this dashboard knows
    busy: str  # and {code}
    token_missing: str  # 401, no token sent
    token_rejected: str  # and {reason}: 401, the server's word (expired, bad_signature…)
    origin_refused: str  # 403 origin
    host_refused: str  # 403 host
    too_many: str  # 429 per_ip_limit
    server_full: str  # 503 server_full
    closed_policy: str  # and {reason}: closed with 1008 (e.g. "token expired")
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
        refused="refused by the feed (HTTP {code}) — next try in {seconds} s",
        busy="feed busy (HTTP {code}) — retrying in {seconds} s",
        token_missing="the feed needs a token — set TOURPANEL_TOKEN (next try in {seconds} s)",
        token_rejected="token rejected: {reason} — set TOURPANEL_TOKEN (next try in {seconds} s)",
        origin_refused="origin not allowed — ask the feed's operator (next try in {seconds} s)",
        host_refused="host not allowed — check the feed URL (next try in {seconds} s)",
        too_many="too many connections from this address — retrying in {seconds} s",
        server_full="server full — retrying in {seconds} s",
        closed_policy="closed by the feed: {reason} (next try in {seconds} s)",
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
        refused="refusé par le flux (HTTP {code}) — prochain essai dans {seconds} s",
        busy="flux saturé (HTTP {code}) — nouvel essai dans {seconds} s",
        token_missing=(
            "le flux demande un jeton — définissez TOURPANEL_TOKEN "
            "(prochain essai dans {seconds} s)"
        ),
        token_rejected=(
            "jeton refusé : {reason} — définissez TOURPANEL_TOKEN (prochain essai dans {seconds} s)"
        ),
        origin_refused=(
            "origine non autorisée — voyez l'exploitant du flux (prochain essai dans {seconds} s)"
        ),
        host_refused="hôte non autorisé — vérifiez l'URL du flux (prochain essai dans {seconds} s)",
        too_many="trop de connexions depuis cette adresse — nouvel essai dans {seconds} s",
        server_full="serveur complet — nouvel essai dans {seconds} s",
        closed_policy="fermé par le flux : {reason} (prochain essai dans {seconds} s)",
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
