import json,sys
d=json.load(open(sys.argv[1])); r=json.load(open(sys.argv[2]))
res=r['result'] if 'result' in r else r
rates=[s['offered_rate'] for s in res['steps']]
secs=d['secs']
# clusters of busy seconds (cpu > 250 ms/s), gaps of >=2 s split
cl=[];prev=None
for s in secs:
    if s[6] > 250:
        if prev is None or s[0]-prev>2: cl.append([])
        cl[-1].append(s); prev=s[0]
cl=[c for c in cl if len(c)>=6]
# last len(rates) clusters (drop login etc.) - map from the end
cl=cl[-len(rates):] if len(cl)>=len(rates) else cl
off=len(rates)-len(cl)
for i,c in enumerate(cl):
    c=c[1:-1] if len(c)>4 else c
    n=len(c)
    f=lambda k: sum(x[k] for x in c)/n
    print(f"{rates[i+off]:6d} secs {n:2d} gc {f(1):6.1f} ms/s ({f(2):5.1f}/s, major {f(3):5.1f}) long-turns {f(4):5.1f}/s {f(5):6.1f} ms/s cpu {f(6):6.0f} ms/s")
