#!/usr/bin/env python3
"""Differential check of our BMP, GIF and TIFF decoders against ComfyUI's
LoadImage (restated in load_goldens.comfy_load) under Pillow 9.4: random
files of each format (load_formats' writers with random layouts,
palettes, disposal methods, extents, compressions, orientations and
truncations), each decoded by both; the outputs must be equal, or both
must fail.  Not a ctest (it needs the venv); run it after changing a
decoder:

  cc -O1 -g -fsanitize=address,undefined -Inodepacks/core -Isdk/include \
     tests/core/gen/decode_dump.c build-x/nodepacks/core/libcore_pixels.a \
     -o /tmp/decode_dump $(pkg-config --libs libpng libwebp libwebpdemux \
     libtiff-4) -ljpeg -lm
  /work/venvs/core/bin/python tests/core/gen/decode_differential.py \
     /tmp/decode_dump gif 400 1

Known differences (reported, not failures of this check's purpose): we
refuse planar TIFFs of 16-bit samples or five bands that Pillow reads
with 8-bit band modes, and damaged TIFF directories that Pillow's lenient
reader half-reads; Pillow fails on some truncated TIFFs we read.
"""
import io
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

import load_formats as L
import load_goldens as G


def rnd_img(rs):
    w,h=rs.randint(1,9),rs.randint(1,7)
    mode=rs.choice(['1','L','P','RGB','RGBA','CMYK','I;16','I','F','LA'])
    if mode=='1': im=Image.fromarray(rs.rand(h,w)>0.5)
    elif mode=='I;16': im=Image.fromarray(rs.randint(0,1000,(h,w)).astype(np.uint16))
    elif mode=='I': im=Image.fromarray(rs.randint(-70000,70000,(h,w)).astype(np.int32),'I')
    elif mode=='F': im=Image.fromarray((rs.rand(h,w)*400-50).astype(np.float32),'F')
    elif mode=='P': im=Image.fromarray(rs.randint(0,256,(h,w,3)).astype(np.uint8)).quantize(rs.randint(2,20))
    else:
        c={'L':1,'RGB':3,'RGBA':4,'CMYK':4,'LA':2}[mode]
        a=rs.randint(0,256,(h,w,c)).astype(np.uint8)
        im=Image.fromarray(a[...,0] if c==1 else a, mode)
    return im


def gen_gif(rs):
    W,H=rs.randint(1,9),rs.randint(1,9)
    gp=None
    if rs.rand()<0.8:
        gb=rs.randint(1,4)
        gp=[tuple(rs.randint(0,256,3)) for _ in range(1<<gb)] if rs.rand()<0.9 else [(i,i,i) for i in range(1<<gb)]
    else: gb=2
    frames=[]
    for k in range(rs.randint(1,5)):
        fw,fh=rs.randint(1,W+2),rs.randint(1,H+2)
        x,y=rs.randint(0,W),rs.randint(0,H)
        f=dict(x=x,y=y,w=fw,h=fh)
        hi=4
        if rs.rand()<0.3:
            pb=rs.randint(1,4); f['pal']=[tuple(rs.randint(0,256,3)) for _ in range(1<<pb)]; f['pbits']=pb
            if rs.rand()<0.2: f['pal']=[(i,i,i) for i in range(1<<pb)]
        f['idx']=rs.randint(0,hi,fw*fh).tolist()
        if rs.rand()<0.2: f['gce']=False
        if rs.rand()<0.5: f['trans']=int(rs.randint(0,4))
        f['dispose']=int(rs.choice([0,1,2,3]))
        frames.append(f)
    data = L.gif_file(W, H, frames, global_pal=gp, gbits=gb,
                      background=int(rs.randint(0, 4)))
    if rs.rand() < 0.15:
        data = data[:rs.randint(13, len(data))]
    return data


def gen_bmp(rs):
    w,h=rs.randint(1,12),rs.randint(1,8)
    bits=int(rs.choice([1,4,8,16,24,32]))
    hsize=int(rs.choice([12,40,40,108,124])) if bits in (1,4,8,24) else int(rs.choice([40,108,124]))
    comp=0; masks=None
    if bits<=8 and hsize!=12 and rs.rand()<0.4 and bits in (4,8): comp = 2 if bits==4 else 1
    if bits in (16,32) and rs.rand()<0.5:
        comp=3
        masks = [(0xF800,0x7E0,0x1F,0),(0x7C00,0x3E0,0x1F,0)][rs.randint(2)] if bits==16 else \
            [(0xFF0000,0xFF00,0xFF,0),(0xFF000000,0xFF0000,0xFF00,0),(0xFF000000,0xFF0000,0xFF00,0xFF),(0xFF,0xFF00,0xFF0000,0xFF000000),(0xFF0000,0xFF00,0xFF,0xFF000000),(0,0,0,0),(0xFF,0xFF00,0xFF0000,0)][rs.randint(7)]
    pal=None
    if bits<=8:
        n = rs.randint(1, (1<<bits)+1)
        r=rs.rand()
        if r<0.3: pal=[(i,i,i) for i in range(n)]
        elif r<0.4 and n==2: pal=[(0,0,0),(255,255,255)]
        else: pal=[tuple(int(v) for v in rs.randint(0,256,3)) for _ in range(n)]
    if comp in (1,2):
        data=bytes(rs.randint(0,256,rs.randint(2,60)).tolist())
        # sprinkle valid escapes
        data=bytearray(data)
        for j in range(0,len(data)-1,2):
            if rs.rand()<0.3: data[j]=0; data[j+1]=int(rs.choice([0,1,2,3,4,5]))
        data=bytes(data)
    else:
        stride=((w*bits+31)>>3)&~3
        data=bytes(rs.randint(0,256,stride*h).tolist())
        if rs.rand()<0.1: data=data[:rs.randint(0,len(data)+1)]
    f=L.bmp_file(w,h,bits,data,pal,comp=comp,hsize=hsize,masks=masks,topdown=(hsize!=12 and rs.rand()<0.3))
    return f


def gen_tif(rs):
    r=rs.rand()
    b=io.BytesIO()
    if r<0.6:
        im=rnd_img(rs)
        kw={}
        comp=rs.choice(['raw','tiff_lzw','tiff_adobe_deflate','packbits'])
        if comp!='raw': kw['compression']=comp
        if rs.rand()<0.3: kw['tiffinfo']={274:int(rs.randint(1,9))}
        if rs.rand()<0.2:
            ims=[rnd_img(rs) if rs.rand()<0.5 else im.copy() for _ in range(rs.randint(1,3))]
            kw['save_all']=True; kw['append_images']=ims
        try: im.save(b,'TIFF',**kw)
        except Exception:
            return None
        data=b.getvalue()
    else:
        w,h=rs.randint(1,9),rs.randint(1,7)
        photo=int(rs.choice([0,1,2,3,5]))
        bps=int(rs.choice([1,2,4,8,16,32])) if photo in (0,1) else (int(rs.choice([8,16])) if photo==2 else (int(rs.choice([1,2,4,8])) if photo==3 else 8))
        spp={0:1,1:1,2:int(rs.choice([3,4,5])),3:1,5:4}[photo]
        tags=[(277,3,[spp])]
        if spp>3 and photo==2: tags.append((338,3,[int(rs.choice([0,1,2]))]+[0]*(spp-4)))
        if photo in (0,1) and bps in (16,32) and rs.rand()<0.6: tags.append((339,3,[int(rs.choice([1,2,3]) if bps==32 else rs.choice([1,2]))]))
        if photo==3: tags.append((320,3,[int(v) for v in rs.randint(0,65536,3*(1<<bps))]))
        if rs.rand()<0.3: tags.append((274,3,[int(rs.randint(1,9))]))
        if bps<8:
            raw=L.pack_bits(rs.randint(0,1<<bps,(h,w*spp)),bps)
        else:
            raw=bytes(rs.randint(0,256,h*w*spp*bps//8).tolist())
        planes=[raw]; tile=None
        if bps>=8 and spp>1 and rs.rand()<0.3:
            a=np.frombuffer(raw,np.uint8).reshape(h,w,spp,bps//8)
            planes=[a[:,:,k].tobytes() for k in range(spp)]
        elif bps>=8 and rs.rand()<0.2: tile=(16,16)
        data=L.tiff_file(w,h,bps,photo,planes,tags,tile=tile)
        if rs.rand()<0.1: data=data[:rs.randint(8,len(data))]
    return data


def main():
    dump, fmt, count, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4])
    gen = {"gif": gen_gif, "bmp": gen_bmp, "tif": gen_tif}[fmt]
    rs = np.random.RandomState(seed)
    same = both_fail = 0
    bad = []
    tmp = tempfile.mkdtemp()
    path, raw = os.path.join(tmp, "r." + fmt), os.path.join(tmp, "d.raw")
    for it in range(count):
        data = gen(rs)
        if data is None:
            continue
        with open(path, "wb") as f:
            f.write(data)
        try:
            im, m = G.comfy_load(path)
            perr = None
        except Exception as e:  # what ComfyUI would report
            perr = repr(e)
        p = subprocess.run([dump, path, raw], capture_output=True, text=True)
        if p.returncode:
            if perr:
                both_fail += 1
            else:
                bad.append((it, "we fail: " + p.stderr.strip()[:150]))
            continue
        if perr:
            bad.append((it, "Pillow fails: " + perr[:150]))
            continue
        n, h, w, c = map(int, p.stdout.split())
        px = np.fromfile(raw, np.uint8).reshape(n, h, w, c)
        rgb = px[..., :3] if c >= 3 else np.repeat(px[..., :1], 3, axis=3)
        mine = rgb.astype(np.float32) / 255
        mk = (1 - px[..., c - 1].astype(np.float32) / 255 if c in (2, 4)
              else np.zeros((n, 64, 64), np.float32))
        if (mine.shape == im.shape and (mine == im).all() and
                mk.shape == m.shape and (mk == m).all()):
            same += 1
        else:
            bad.append((it, "differs", im.shape, mine.shape, m.shape,
                        mk.shape))
    print(f"{fmt}: {same} equal, {both_fail} refused by both, "
          f"{len(bad)} different")
    for b in bad[:20]:
        print(" ", b)


if __name__ == "__main__":
    main()
