"""Security: SM4-GCM field sealing, envelope keyring and blind indexes (DESIGN.md §7)."""
from security.keyring import (
    DataKeyRecord,
    EnvMasterKeyProvider,
    FileMasterKeyProvider,
    Keyring,
    MasterKeyProvider,
    UnknownTenant,
)
from security.sealing import SealError, open_sealed, seal, sealed_key_id

__all__ = [
    "DataKeyRecord",
    "EnvMasterKeyProvider",
    "FileMasterKeyProvider",
    "Keyring",
    "MasterKeyProvider",
    "SealError",
    "UnknownTenant",
    "open_sealed",
    "seal",
    "sealed_key_id",
]
