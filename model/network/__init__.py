"""The VideoLights network: projection and refinement, Bi-CMF, encoder, anchor decoder, heads."""
