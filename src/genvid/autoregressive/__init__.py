"""The toolkit of the autoregressive (raster) likelihood models: PixelCNN, the PixelRNNs, VPN.

`sampling` draws their images and frames value by value in raster order; `evaluate` scores
data under them exactly (NLL in nats per example, bits per dimension). The models import
`sampling`; the protocols and the run commands import `evaluate`.
"""
