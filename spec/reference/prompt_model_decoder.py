"""Reference decoder for text codec 3, written from spec/prompt-coder.md alone (no aigif
imports): a second implementation that the conformance test compares with the package.

    python spec/reference/prompt_model_decoder.py PAYLOAD_HEX

It has no error codes and no text limit: it illustrates the decoding procedure, with the
two bounds of §5 that make the work proportional to the payload (ValueError past them).
"""
import bisect
import struct
import sys
from pathlib import Path

import zstandard

MODEL = Path(__file__).resolve().parents[2] / "aigif" / "text" / "promptcoder" / "data" / "prompt-model-v1.bin.zst"
raw = zstandard.ZstdDecompressor().decompress(MODEL.read_bytes(), max_output_size=1<<26)
assert raw[:8] == b"AIGIFPC\x01"
p = 8
V, N = struct.unpack_from("<II", raw, p); p += 8
lens = raw[p:p+V]; p += V
pieces = []
for n in lens: pieces.append(raw[p:p+n]); p += n
tables = {}
for k in range(N, 0, -1):
    C, E = struct.unpack_from("<II", raw, p); p += 8
    keys = struct.unpack_from(f"<{C}Q", raw, p); p += 8*C
    end = struct.unpack_from(f"<{C}I", raw, p); p += 4*C
    esc = struct.unpack_from(f"<{C}H", raw, p); p += 2*C
    sym = struct.unpack_from(f"<{E}H", raw, p); p += 2*E
    freq = struct.unpack_from(f"<{E}H", raw, p); p += 2*E
    d = {}
    for i, key in enumerate(keys):
        lo = end[i-1] if i else 0
        d[key] = (sym[lo:end[i]], freq[lo:end[i]], esc[i])
    tables[k] = d
order0 = struct.unpack_from(f"<{V}I", raw, p); p += 4*V
bytefreq = struct.unpack_from(f"<{257*257}H", raw, p); p += 2*257*257
assert p == len(raw)
def cumt(f):
    c=[0]
    for x in f: c.append(c[-1]+x)
    return c
class RD:
    def __init__(s, data):
        s.d=data; s.pos=8; s.code=int.from_bytes(data[:8].ljust(8,b"\0"),"big"); s.range=2**64-1
        s.decisions=0; s.max_decisions=64*(len(data)+8)
    def target(s,total):
        s.decisions+=1
        if s.decisions>s.max_decisions: raise ValueError("too many decisions for the payload length")
        s.range//=total; v=s.code//s.range
        if v>=total: raise ValueError("corrupt")
        return v
    def consume(s,start,freq):
        s.code-=start*s.range; s.range*=freq
        while s.range<2**56:
            if s.pos>=len(s.d)+16: raise ValueError("reads more than 16 bytes past the end")
            b=s.d[s.pos] if s.pos<len(s.d) else 0; s.pos+=1
            s.code=s.code*256+b; s.range*=256
def decode(data, limit=1<<20):
    rd=RD(data); hist=[1]*N; out=bytearray()
    while True:
        excluded=set(); symbol=None
        for k in range(N,0,-1):
            key=0
            for s_ in hist[N-k:]: key=key*V+s_
            ctx=tables[k].get(key)
            if ctx is None: continue
            syms,freqs,esc=ctx; cum=cumt(freqs)
            X=sorted(i for i,s_ in enumerate(syms) if s_ in excluded)
            removed=sum(freqs[i] for i in X); mass=cum[-1]-removed
            if mass==0: continue
            v=rd.target(mass+esc)
            if v>=mass:
                rd.consume(mass,esc)
                if k>1: excluded|=set(syms)
                continue
            pos=v
            for i in X:
                if cum[i]<=pos: pos+=freqs[i]
                else: break
            i=bisect.bisect_right(cum,pos)-1
            rd.consume(cum[i]-sum(freqs[j] for j in X if j<i), freqs[i])
            symbol=syms[i]; break
        if symbol is None:
            cum=cumt(order0); v=rd.target(cum[V]); symbol=bisect.bisect_right(cum,v)-1
            rd.consume(cum[symbol],order0[symbol])
        if symbol==0: break
        if symbol==2:
            c=256; count=0
            while True:
                row=bytefreq[257*c:257*c+257]; cum=cumt(row); v=rd.target(cum[257]); b=bisect.bisect_right(cum,v)-1
                rd.consume(cum[b],row[b])
                if b==256:
                    assert count>0; break
                out.append(b); count+=1; c=b
        else:
            out+=pieces[symbol]
        hist=hist[1:]+[symbol]
    return out.decode("utf-8")
if __name__ == "__main__":
    print(decode(bytes.fromhex(sys.argv[1])))
