"""Security: SM4-GCM field sealing, envelope keyring, blind indexes, evidence chain (DESIGN.md §7)."""
from security.evidence import (
    ChainReport,
    ChainVerifier,
    EvidenceChain,
    EvidenceRecord,
    InclusionProof,
    check_inclusion,
    content_digest,
    evidence_hash,
    genesis_hash,
    prove_inclusion,
    verify_chain,
)
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
    "ChainReport",
    "ChainVerifier",
    "EvidenceChain",
    "EvidenceRecord",
    "InclusionProof",
    "check_inclusion",
    "content_digest",
    "evidence_hash",
    "genesis_hash",
    "prove_inclusion",
    "verify_chain",
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
