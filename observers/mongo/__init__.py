"""MongoDB observer: Sacred's schema (so Omniboard and Incense read it), written incrementally.

``pip install 'gnomon[mongo]'`` installs pymongo; ``import gnomon`` never loads it.
Use ``MongoObserver(url, db_name)``, ``-m [host:port:]db[.prefix][!priority]`` or
``-O mongodb://host/db``. :func:`~gnomon.observers.mongo.reader.MongoReader` reads
runs back with escaped keys restored, the whole output and every metric point.
"""

from __future__ import annotations

from gnomon.observers.mongo.observer import MongoObserver, QueuedMongoObserver

__all__ = ["MongoObserver", "QueuedMongoObserver"]
