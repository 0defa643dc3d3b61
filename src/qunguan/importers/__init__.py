"""Importers: readers for chat archives exported from other platforms (WeCom, WeChat,
WhatsApp, Telegram, and qunguan's own neutral JSONL), each streaming its file into the one
event shape of ``events.py`` and reporting what it cannot read (docs/importers.md).

The built-ins register through ``register_importer`` exactly as a third party's would.
"""

from qunguan.importers import envelope_alerts as _envelope_alerts
from qunguan.importers.events import KINDS, ArchiveEvent, RecordItem, dumps, to_json
from qunguan.importers.jsonl import JsonlImporter
from qunguan.importers.reading import ReadError, Source
from qunguan.importers.registry import (
    Importer,
    UnknownFormat,
    detect,
    get_importer,
    importers,
    read_events,
    register_importer,
    unregister_importer,
)
from qunguan.importers.stream import Archive, StrictStop
from qunguan.importers.telegram import TelegramJsonImporter
from qunguan.importers.wechat_csv import WechatCsvImporter
from qunguan.importers.wecom import WecomArchiveImporter
from qunguan.importers.whatsapp import WhatsappTxtImporter

# Detection order: the neutral format and WeCom (JSON lines) before Telegram (one JSON
# document), CSV headers before WhatsApp's free text.
BUILTINS = (JsonlImporter(), WecomArchiveImporter(), TelegramJsonImporter(),
            WechatCsvImporter(), WhatsappTxtImporter())


def register_builtins() -> None:
    """Idempotent, like screening's built-in detectors."""
    for importer in BUILTINS:
        if get_importer(importer.name) is None:
            register_importer(importer)


register_builtins()
_envelope_alerts.register()

__all__ = [
    "KINDS",
    "Archive",
    "ArchiveEvent",
    "Importer",
    "ReadError",
    "RecordItem",
    "Source",
    "StrictStop",
    "UnknownFormat",
    "detect",
    "dumps",
    "get_importer",
    "importers",
    "read_events",
    "register_importer",
    "to_json",
    "unregister_importer",
]
