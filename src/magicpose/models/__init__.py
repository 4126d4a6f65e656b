from magicpose.models.reference_attention import (
    BankFilled,
    ReferenceAttnProcessor,
    ReferenceBank,
    install_reference_attention,
    run_appearance_unet,
    self_attention_names,
)

__all__ = [
    "BankFilled",
    "ReferenceAttnProcessor",
    "ReferenceBank",
    "install_reference_attention",
    "run_appearance_unet",
    "self_attention_names",
]
