"""kpstask: did the key-pair change on my Huawei Cloud server work yet?"""

__version__ = "0.1.0"
