"""Reference decoder for text codecs 3, 5 and 6, written from spec/prompt-coder.md alone (no
aigif imports): a second implementation that the conformance test compares with the package.

    python spec/reference/prompt_model_decoder.py PAYLOAD_HEX [CODEC]

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
def read_table(raw, p):
    """One order table of §4 at p -> (end, {key: (syms, freqs, esc)})."""
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
    return p, d
tables = {}
for k in range(N, 0, -1):
    p, tables[k] = read_table(raw, p)
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
def static_symbol(rd, hist, tabs=tables):
    """One symbol of the static chain (§6): orders N..1 with exclusion, then order 0
    (codec 6, §11: the same over orders 8..1, keys of orders 5..8 mod 2**32; hist holds
    max(tabs) symbols)."""
    excluded=set(); n=len(hist)
    for k in range(max(tabs),0,-1):
        key=0
        for s_ in hist[n-k:]: key=key*V+s_
        if k>4: key%=2**32
        ctx=tabs[k].get(key)
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
        return syms[i]
    cum=cumt(order0); v=rd.target(cum[V]); s_=bisect.bisect_right(cum,v)-1
    rd.consume(cum[s_],order0[s_])
    return s_
def spell(rd):
    c=256; b_out=bytearray()
    while True:
        row=bytefreq[257*c:257*c+257]; cum=cumt(row); v=rd.target(cum[257]); b=bisect.bisect_right(cum,v)-1
        rd.consume(cum[b],row[b])
        if b==256:
            if not b_out: raise ValueError("empty spelling")
            return bytes(b_out)
        b_out.append(b); c=b
PRIMER = MODEL.parent / "prompt-primer-v1.bin"
def load_primer():
    """The primer of §10.1, read on first use of codec 5."""
    r = PRIMER.read_bytes(); assert r[:8] == b"AIGIFPP\x01"; q = 8
    (X,) = struct.unpack_from("<I", r, q); q += 4
    ln = r[q:q+X]; q += X
    extra = []
    for n in ln: extra.append(r[q:q+n]); q += n
    xcount = list(struct.unpack_from(f"<{X}H", r, q)); q += 2*X
    C, E = struct.unpack_from("<II", r, q); q += 8
    first = struct.unpack_from(f"<{C}I", r, q); q += 4*C
    second = struct.unpack_from(f"<{C}I", r, q); q += 4*C
    end = struct.unpack_from(f"<{C}I", r, q); q += 4*C
    fsym = struct.unpack_from(f"<{E}I", r, q); q += 4*E
    fcount = struct.unpack_from(f"<{E}H", r, q); q += 2*E
    assert q == len(r)
    ctxs = {}
    for i in range(C):
        lo = end[i-1] if i else 0
        ctxs[(first[i], second[i])] = (fsym[lo:end[i]], fcount[lo:end[i]])
    return extra, xcount, ctxs
_primer = None
def pick(rd, w):
    v=rd.target(sum(w)); lo=0
    for i,x in enumerate(w):
        if v<lo+x: rd.consume(lo,x); return i
        lo+=x
def binary(rd, pair):
    """§10.2: True on a hit; the pair learns the outcome."""
    v=rd.target(pair[0]+pair[1])
    if v<pair[0]: rd.consume(0,pair[0]); pair[0]+=1; return True
    rd.consume(pair[0],pair[1]); pair[1]+=1; return False
def decode5(data, limit=1<<20):
    """Text codec 5 (§10)."""
    global _primer
    if _primer is None: _primer = load_primer()
    extra, xcount, primed = _primer
    X = len(extra)
    rd=RD(data); hist=[1]*N; p2=p1=1; out=bytearray()
    A={k:[list(f),list(c),True] for k,(f,c) in primed.items()}
    K=list(xcount); spelled_list=[]
    see=[[1,4],[2,3],[1,3],[2,3],[2,3]]; grp=[1,2,3]
    while True:
        sym=None; spelled=False
        ctx=A.get((p2,p1))
        key4=0
        for s_ in hist[N-4:]: key4=key4*V+s_
        gate = key4 in tables[4]
        if ctx is not None and not gate:
            fol,cnt,pr=ctx
            if pr: cls=4 if len(fol)>=2 else 3
            else: cls=2 if len(fol)>=2 else (0 if cnt[0]==1 else 1)
            if binary(rd,see[cls]):
                sym=fol[pick(rd,cnt) if len(fol)>=2 else 0]
                if sym==2: raise ValueError("OOV from an adaptive context")
        if sym is None:
            s_=static_symbol(rd,hist)
            if s_!=2: sym=s_
            else:
                S=len(spelled_list)
                present=[g for g,ok in ((0,X>0),(1,S>0),(2,True)) if ok]
                g=present[pick(rd,[grp[x] for x in present])] if len(present)>1 else 2
                grp[g]+=1
                if g==0: sym=V+pick(rd,K[:X])
                elif g==1: sym=V+X+pick(rd,K[X:])
                else:
                    b=spell(rd); out+=b; spelled=True
                    if S<256: spelled_list.append(b); K.append(0); sym=V+X+S
                    else: sym=2
        if sym==0: break
        if sym>=V:
            K[sym-V]+=1
            if not spelled: out+=extra[sym-V] if sym-V<X else spelled_list[sym-V-X]
        elif not spelled: out+=pieces[sym]
        if len(out)>limit: raise ValueError("over the limit")
        if (p2,p1) not in A: A[(p2,p1)]=[[sym],[1],False]
        else:
            fol,cnt,_=A[(p2,p1)]
            if sym in fol: cnt[fol.index(sym)]+=1
            elif len(fol)<32: fol.append(sym); cnt.append(1)
        hist=hist[1:]+[sym if sym<V else 2]
        p2,p1=p1,sym
    return out.decode("utf-8")
def decode(data, limit=1<<20, tabs=tables):
    """Text codec 3 (§6): the static chain until EOS (codec 6: over its tables, §11)."""
    rd=RD(data); hist=[1]*max(tabs); out=bytearray()
    while True:
        symbol=static_symbol(rd,hist,tabs)
        if symbol==0: break
        out+=spell(rd) if symbol==2 else pieces[symbol]
        if len(out)>limit: raise ValueError("over the limit")
        hist=hist[1:]+[symbol]
    return out.decode("utf-8")
ORDERS = MODEL.parent / "prompt-orders-v1.bin.zst"
_tables6 = None
def load_tables6():
    """Model v1's tables under the order extension's (§11.1), read on first use of codec 6."""
    r = zstandard.ZstdDecompressor().decompress(ORDERS.read_bytes(), max_output_size=1<<26)
    assert r[:8] == b"AIGIFPH\x01"
    assert struct.unpack_from("<III", r, 8) == (V, 5, 8)
    q = 20; tabs = dict(tables)
    def planes(m):
        nonlocal q
        v = [r[q+i] + 256*r[q+m+i] for i in range(m)]; q += 2*m
        return v
    for k in range(8, 4, -1):
        C, E = struct.unpack_from("<II", r, q); q += 8
        bucket = planes(65536); low = planes(C)
        keys = []; i = 0
        for b in range(65536):
            for _ in range(bucket[b]): keys.append(b*65536 + low[i]); i += 1
        cnt = r[q:q+C]; q += C
        esc = planes(C); sym = planes(E); freq = planes(E)
        d = {}; lo = 0
        for i, key in enumerate(keys):
            d[key] = (sym[lo:lo+cnt[i]], freq[lo:lo+cnt[i]], esc[i]); lo += cnt[i]
        assert lo == E
        tabs[k] = d
    assert q == len(r)
    return tabs
def decode6(data, limit=1<<20):
    """Text codec 6 (§11): codec 3's procedure over orders 8..1."""
    global _tables6
    if _tables6 is None: _tables6 = load_tables6()
    return decode(data, limit, _tables6)
if __name__ == "__main__":
    codec = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print({5: decode5, 6: decode6}.get(codec, decode)(bytes.fromhex(sys.argv[1])))
